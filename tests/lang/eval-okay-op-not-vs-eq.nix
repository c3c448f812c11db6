[ (!true == false) (!false == false) ]
